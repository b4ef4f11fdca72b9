export function greet(name) {
  return `Hello from ${name}: this module was imported by main.js.`;
}
