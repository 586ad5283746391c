// A loopback HTTP server that answers the sync protocol's URLs with what a
// broken proxy or server sends: an HTML page with 200, truncated JSON, JSON
// of the wrong types, a 500 HTML page, a body cut mid-transfer, no answer.
// Started by `make test-wasm`; prints `listening <port>` and runs until killed.
import http from 'node:http';

const HTML = '<!DOCTYPE html><html><head><title>Bad Gateway</title></head><body><h1>502</h1></body></html>';

const answers = {
  html: () => [200, 'text/html', HTML, HTML],
  truncated: () => [200, 'application/json', '{"confirmed":[{"eventId":"', '{"events":[{"globalSeq":1,"eventId":"'],
  wrongtypes: () => [200, 'application/json', '{"confirmed":[{"eventId":5,"globalSeq":"x"}]}', '{"events":"none","cursor":7,"hasMore":"no"}'],
  error500: () => [500, 'text/html', HTML, HTML],
};

const server = http.createServer((req, res) => {
  const cors = {
    'Access-Control-Allow-Origin': req.headers.origin ?? '*',
    'Access-Control-Allow-Headers': '*',
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  };
  if (req.method === 'OPTIONS') {
    res.writeHead(204, cors).end();
    return;
  }
  const mode = (req.url ?? '/').split('/')[1];
  req.resume();
  if (mode === 'hang') return; // never answers: the client's timeout fires
  if (mode === 'cut') {
    // Promises 1000 bytes, sends 10, drops the connection.
    res.writeHead(200, { ...cors, 'Content-Type': 'application/json', 'Content-Length': '1000' });
    res.write('{"events":');
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  const answer = answers[mode];
  if (!answer) {
    res.writeHead(404, cors).end();
    return;
  }
  const [status, type, pushBody, pullBody] = answer();
  const body = req.method === 'POST' ? pushBody : pullBody;
  res.writeHead(status, { ...cors, 'Content-Type': type, 'Retry-After': '0' }).end(body);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
