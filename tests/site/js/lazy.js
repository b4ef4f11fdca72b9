export default function later() {
  return "loaded later";
}
