// The import is rewritten to greet.js's hashed name by collectstatic.
import { greet } from "./greet.js";

document.getElementById("greeting").textContent = greet("Django");
