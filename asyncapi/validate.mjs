// `make lint-asyncapi`: parse an AsyncAPI document with the official parser, which applies the same rules as
// `asyncapi validate` (the spec's JSON Schema, resolvable $refs, the AsyncAPI 3 semantic rules, and the payload
// schemas). Prints every diagnostic; fails on any error or warning.
import { readFileSync } from "node:fs";
import { DiagnosticSeverity, Parser } from "@asyncapi/parser";

const path = process.argv[2] ?? "asyncapi/lexica.yaml";
const { document, diagnostics } = await new Parser().parse(readFileSync(path, "utf8"), { source: path });
for (const { severity, code, message, path: where, range } of diagnostics) {
  const level = DiagnosticSeverity[severity].toLowerCase();
  console.log(`${path}:${range.start.line + 1}: ${level}: ${message} [${code}] at ${where.join(".") || "/"}`);
}
if (document === undefined || diagnostics.some((d) => d.severity <= DiagnosticSeverity.Warning)) {
  console.error(`${path}: not a valid AsyncAPI document`);
  process.exit(1);
}
console.log(`${path}: valid AsyncAPI ${document.version()}`);
