// Validate AsyncAPI documents with the official parser (@asyncapi/parser).
// Usage: node scripts/validate-asyncapi.mjs FILE...; prints one JSON line per file,
// exits 1 when any document has an error-severity diagnostic.
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"));
  const errors = diagnostics.filter((d) => d.severity === 0);
  const warnings = diagnostics.filter((d) => d.severity === 1);
  if (!document || errors.length > 0) failed = true;
  console.log(
    JSON.stringify({
      file,
      valid: Boolean(document) && errors.length === 0,
      version: document?.version() ?? null,
      channels: document ? document.channels().length : 0,
      operations: document ? document.operations().length : 0,
      messages: document ? document.components().messages().length : 0,
      errors: errors.map((d) => `${d.code}: ${d.message} at ${d.path.join(".")}`),
      warnings: warnings.map((d) => `${d.code}: ${d.message} at ${d.path.join(".")}`),
    }),
  );
}
process.exit(failed ? 1 : 0);
