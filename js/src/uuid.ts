/**
 * UUIDv7 (RFC 9562): 48 bits of Unix time in milliseconds, the version, 74
 * random bits and the variant. Event ids are minted on the main thread, so a
 * capture sent again (to a new leader tab) carries the same ids and the core
 * applies it once.
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `crypto.getRandomValues` fills at most this many bytes per call. */
const MAX_RANDOM_BYTES = 65_536;

/**
 * Random bytes drawn ahead, 64 KiB at a time: one `getRandomValues` call
 * serves thousands of single-row captures instead of one call each.
 */
let pool = new Uint8Array(0);
let poolAt = 0;

function randomBytes(n: number): Uint8Array {
  if (n > MAX_RANDOM_BYTES) {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += MAX_RANDOM_BYTES) crypto.getRandomValues(out.subarray(at, at + MAX_RANDOM_BYTES));
    return out;
  }
  if (poolAt + n > pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(MAX_RANDOM_BYTES));
    poolAt = 0;
  }
  // Bytes are handed out once: each id gets fresh randomness.
  const out = pool.subarray(poolAt, poolAt + n);
  poolAt += n;
  return out;
}

/** `n` UUIDv7 strings for time `ms`, with as few calls for randomness as the API allows. */
export function uuidv7s(n: number, ms: number = Date.now()): string[] {
  const random = randomBytes(10 * n);
  const time = Math.max(0, Math.floor(ms));
  // 48-bit time, big-endian: the high 16 bits and the low 32 bits.
  const high = Math.floor(time / 2 ** 32) & 0xffff;
  const low = time >>> 0;
  const ids: string[] = [];
  const b = new Uint8Array(16);
  for (let i = 0; i < n; i++) {
    b[0] = high >>> 8;
    b[1] = high & 0xff;
    b[2] = low >>> 24;
    b[3] = (low >>> 16) & 0xff;
    b[4] = (low >>> 8) & 0xff;
    b[5] = low & 0xff;
    b.set(random.subarray(10 * i, 10 * i + 10), 6);
    b[6] = 0x70 | (b[6]! & 0x0f); // version 7
    b[8] = 0x80 | (b[8]! & 0x3f); // variant 10
    let s = '';
    for (let j = 0; j < 16; j++) {
      if (j === 4 || j === 6 || j === 8 || j === 10) s += '-';
      s += HEX[b[j]!]!;
    }
    ids.push(s);
  }
  return ids;
}

/** One UUIDv7 string. */
export function uuidv7(): string {
  return uuidv7s(1)[0]!;
}
