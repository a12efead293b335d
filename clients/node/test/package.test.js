// The package as npm would ship it: what the declarations promise is what the modules
// export, and package.json's entry points and files list name files that exist.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";

const root = new URL("../", import.meta.url);
const read = (name) => readFileSync(new URL(name, root), "utf8");

function declared(source) {
  const names = new Set();
  for (const m of source.matchAll(/^export declare (?:function|const|class) (\w+)/gm)) names.add(m[1]);
  for (const m of source.matchAll(/^export \{([^}]+)\} from/gm)) {
    for (const name of m[1].split(",")) names.add(name.trim());
  }
  return [...names].sort();
}

for (const [module, types] of [["index.js", "index.d.ts"], ["signing.js", "signing.d.ts"]]) {
  test(`${types} declares exactly what ${module} exports`, async () => {
    const exported = Object.keys(await import(new URL(module, root))).sort();
    assert.deepEqual(declared(read(types)), exported);
  });
}

test("package.json: ES module, no dependencies, entry points and files that exist", () => {
  const pkg = JSON.parse(read("package.json"));
  assert.equal(pkg.type, "module");
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.license, "Apache-2.0");
  assert.equal(pkg.engines.node, ">=18");
  for (const entry of Object.values(pkg.exports)) {
    assert.ok(existsSync(new URL(entry.types, root)) && existsSync(new URL(entry.default, root)));
  }
  for (const file of pkg.files) assert.ok(existsSync(new URL(file, root)), file);
  assert.deepEqual(pkg.files.filter((f) => f.startsWith("test")), []);
});
