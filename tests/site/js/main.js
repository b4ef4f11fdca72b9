import { greet } from "./util.js";

// A specifier in a comment is left alone: import "./not-shipped.js";
const message = "import('./not-shipped.js') is just text";
const hero = new URL("../img/hero.svg", import.meta.url);

document.querySelector("header")?.append(greet("world"), message, hero.href);
document.addEventListener("click", async () => {
  const { default: later } = await import("./lazy.js");
  later();
});
//# sourceMappingURL=main.js.map
