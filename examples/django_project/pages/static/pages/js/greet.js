export function greet(name) {
  return `Hello, ${name}: this script and the one that imports it have content-hashed names.`;
}
