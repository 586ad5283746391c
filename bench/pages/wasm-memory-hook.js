// Loaded ahead of a worker's own code, only for the memory reading of case 6
// (never during timed runs): notes every WebAssembly.Memory the worker
// instantiates, imported or exported, so the runner can read its size.
(() => {
  const found = (self.__benchWasmMemories = []);
  const note = (v) => v instanceof WebAssembly.Memory && !found.includes(v) && found.push(v);
  for (const name of ['instantiate', 'instantiateStreaming']) {
    const original = WebAssembly[name];
    if (!original) continue;
    WebAssembly[name] = function (source, imports) {
      for (const module of Object.values(imports ?? {})) Object.values(module ?? {}).forEach(note);
      return original.call(this, source, imports).then((r) => {
        Object.values((r.instance ?? r).exports).forEach(note);
        return r;
      });
    };
  }
})();
