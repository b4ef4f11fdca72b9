// Imported by app.js: the build rewrites the import to this file's hashed name.
export function formatBytes(size) {
  return size < 1024 ? `${size} B` : `${(size / 1024).toFixed(1)} KiB`;
}
