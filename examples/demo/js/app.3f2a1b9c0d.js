// A content-hashed name (app.<hex>.js) gets Cache-Control: immutable.
"use strict";
const origin = window.location.origin;
const lines = [
  `curl -sI ${origin}/css/site.css -H 'Accept-Encoding: br'`,
  `curl -s ${origin}/ten.txt -H 'Range: bytes=2-5'`,
  `curl -s ${origin}/ten.txt -H 'Range: bytes=0-1,8-9'`,
  `curl -sI ${origin}/js/app.3f2a1b9c0d.js`,
];
document.getElementById("examples").textContent = lines.join("\n");
