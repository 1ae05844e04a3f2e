// Dolos (@dodona/dolos-lib) on one class, for benchmarks/similarity_quality.py: reads a JSON
// list of file paths and the given code's path, prints every pair's similarity as JSON lines.
// Usage: node dolos_pairs.mjs FILES.json GIVEN.py
import { readFileSync } from "node:fs";
import { Dolos } from "@dodona/dolos-lib";

const [filesJson, given] = process.argv.slice(2);
const files = JSON.parse(readFileSync(filesJson, "utf8"));
const dolos = new Dolos({ language: "python" });
const report = await dolos.analyzePaths(files, given);
const out = report.allPairs().map((p) => ({
  left: p.leftFile.path,
  right: p.rightFile.path,
  similarity: p.similarity,
}));
process.stdout.write(JSON.stringify(out));
