// Builds app/ (the Hydrogen client's entry page) into dist/, served as static files by chat.mjs.
// Hydrogen's service worker (which it needs: it hands the access token to authenticated media
// requests) is shipped as it comes in the package, at dist/sw.js.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { defineConfig } from "vite";

const sdk = dirname(createRequire(import.meta.url).resolve("hydrogen-view-sdk"));

const serviceWorker = {
  name: "hydrogen-service-worker",
  generateBundle() {
    this.emitFile({ type: "asset", fileName: "sw.js", source: readFileSync(join(sdk, "sw.js")) });
  },
};

export default defineConfig({
  root: "app",
  base: "./",
  logLevel: "error",
  plugins: [serviceWorker],
  build: { outDir: "../dist", emptyOutDir: true, chunkSizeWarningLimit: 4096 },
});
