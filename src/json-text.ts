/**
 * Deeper JSON is not parsed (jsonValue is null, as for text that is not JSON; a JSON definition
 * refuses it). Writing the response recurses once per level: a ~5,000-level value, 10 KB of
 * brackets well within METADATA_MAX_VALUE_LENGTH, overflowed the stack and failed every read that
 * selected its jsonValue with a 500.
 */
export const MAX_JSON_DEPTH = 1000;

/** `{ value }` when `text` is JSON nested at most MAX_JSON_DEPTH levels, else undefined. */
export function parseJsonText(text: string): { value: unknown } | undefined {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) return undefined;
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** Whether brackets outside JSON strings open more than `max` levels. */
function nestsDeeperThan(text: string, max: number): boolean {
  // Each level takes two characters: shorter text cannot, and costs no scan.
  if (text.length < 2 * (max + 1)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
