// Decrypts a SOPS file with the npm `sops-age` package (an independent SOPS reader; note it
// does not verify the MAC). Usage: node sops_age_check.mjs FILE AGE_KEY_FILE, run with
// NODE_PATH or from a directory where `npm install sops-age@4.0.2` was done.
import { decryptSops } from "sops-age";
import { readFileSync } from "node:fs";
const [file, keyFile] = process.argv.slice(2);
const secretKey = readFileSync(keyFile, "utf8").split("\n").find(l => l.startsWith("AGE-SECRET-KEY-"));
const out = await decryptSops({ path: file, secretKey, fileType: "yaml" });
console.log(JSON.stringify(out));
