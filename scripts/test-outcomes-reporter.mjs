// A node test runner reporter that writes one JSON line per finished test (file, name, pass or
// fail, suite or test). scripts/test.mjs reads it to count outcomes per file and to know which
// files to run again; the human-readable output comes from the spec reporter beside it.
export default async function* outcomes(source) {
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const d = ev.data;
    yield JSON.stringify({
      ok: ev.type === 'test:pass',
      skip: !!d.skip || !!d.todo,
      file: d.file ?? '',
      name: d.name,
      nesting: d.nesting,
      suite: d.details?.type === 'suite',
    }) + '\n';
  }
}
