// One jest run covers every package. TypeScript is compiled by @swc/jest to CommonJS for the
// test runtime; the published packages are ESM built by `tsc -b`.
const swc = [
  "@swc/jest",
  {
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
    module: { type: "commonjs" },
  },
];

/** @type {import('jest').Config} */
const base = {
  testEnvironment: "node",
  transform: { "^.+\\.(t|j|mj)s$": swc },
  // p-retry and its helpers ship ESM only; let swc turn them into CommonJS for jest.
  transformIgnorePatterns: ["/node_modules/(?!(\\.pnpm/)?(p-retry|is-network-error)[@/])"],
  moduleNameMapper: {
    // ESM only: loaded by Node's own require(esm) (see the shim; Node >= 22.22, the driver's floor).
    "^@platformatic/kafka$": "<rootDir>/test/shims/platformatic-kafka.cjs",
    "^@brook/core/spi$": "<rootDir>/packages/core/src/spi.ts",
    "^@brook/core/base$": "<rootDir>/packages/core/src/base.ts",
    "^@brook/local-broker/engine$": "<rootDir>/packages/local-broker/src/engine-entry.ts",
    "^@brook/local-broker/server$": "<rootDir>/packages/local-broker/src/server-entry.ts",
    "^@brook/([a-z-]+)$": "<rootDir>/packages/$1/src/index.ts",
    "^(\\.{1,2}/.*)\\.js$": "$1",
  },
  rootDir: ".",
};

export default {
  testTimeout: 60_000,
  projects: [
    { ...base, displayName: "unit", testMatch: ["<rootDir>/packages/*/src/**/*.test.ts"] },
    { ...base, displayName: "integration", testMatch: ["<rootDir>/test/**/*.test.ts"] },
  ],
};
