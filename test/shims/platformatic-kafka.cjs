// jest runs the tests as CommonJS in a module registry of its own, which cannot load
// @platformatic/kafka (ESM only, uses import.meta). Node >= 22.12 loads ESM through require()
// natively (the package needs Node >= 22.22 anyway): this shim, mapped in jest.config.mjs, hands
// jest the package as Node's own loader gives it. Tests only; the published adapter imports the
// package as ESM.
const nodeModule = process.getBuiltinModule?.("node:module");
if (nodeModule === undefined) {
  throw new Error(`@platformatic/kafka needs Node >= 22.22 (this is ${process.version})`);
}
module.exports = nodeModule.createRequire(__filename)("@platformatic/kafka");
