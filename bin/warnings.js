// Drop Node's ExperimentalWarning lines (node:sqlite, type stripping) and keep every other warning.
export function silenceExperimentalWarnings() {
  const original = process.emitWarning;
  process.emitWarning = function (warning, ...rest) {
    const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
    const name = warning?.name;
    if (type === 'ExperimentalWarning' || name === 'ExperimentalWarning') return;
    return original.call(process, warning, ...rest);
  };
}
