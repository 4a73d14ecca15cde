// The wasm schema engine leaves 10 s and 60 s timers behind, so Prisma's CLI lingers after finishing
// (STACK.md P14). Unref'ing long timers lets the process exit once its real work is done.
const original = global.setTimeout;
global.setTimeout = function patchedSetTimeout(fn, ms, ...args) {
  const t = original(fn, ms, ...args);
  if (typeof ms === 'number' && ms >= 5000 && t && typeof t.unref === 'function') t.unref();
  return t;
};
