// Reads the build's manifest and shows what staticwrap serves.
import { formatBytes } from "./format.js";

const origin = window.location.origin;
// A plain string is not a reference the build rewrites: the manifest has no hashed name.
const response = await fetch("/staticwrap.json");
const manifest = await response.json();
const rows = Object.entries(manifest.files).map(([name, record]) => {
  const variants = Object.entries(record.variants || {})
    .map(([coding, variant]) => `${coding} ${formatBytes(variant.size)}`)
    .join(", ");
  return `<tr><td>${name}</td><td><a href="/${record.hashed}">${record.hashed}</a></td>` +
    `<td>${formatBytes(record.size)}</td><td>${variants || "-"}</td></tr>`;
});
document.querySelector("#files tbody").innerHTML = rows.join("");

const css = manifest.files["css/site.css"].hashed;
document.getElementById("examples").textContent = [
  `curl -sI ${origin}/${css} -H 'Accept-Encoding: br'   # immutable, br`,
  `curl -s ${origin}/ten.txt -H 'Range: bytes=2-5'`,
  `curl -s ${origin}/ten.txt -H 'Range: bytes=0-1,8-9'`,
  `curl -sI ${origin}/ten.txt -H 'If-None-Match: "..."'`,
].join("\n");
