import { BatchEntryFailed, DomainError } from "../../errors.js";

/** How setMetadata treats the namespace's keys that are not in the batch. */
export const BATCH_MODES = {
  MERGE: { description: "Write the entries; the namespace's other keys stay." },
  REPLACE: { description: "Write the entries and remove the namespace's other keys: the batch becomes its key set." },
} as const;
export type BatchMode = keyof typeof BATCH_MODES;

/** Runs `check` on entry `index` of a batch: its domain error names the entry. */
export function atEntry(index: number, check: () => void): void {
  try {
    check();
  } catch (error) {
    throw error instanceof DomainError ? new BatchEntryFailed(index, error) : error;
  }
}

/**
 * The entry whose new key takes the object past `max` live keys, if any: the batch's new keys
 * (`newKeyEntries`, in entry order) are counted one by one on top of the keys it found. A batch
 * that adds no key passes, as an update does.
 */
export function entryPastKeyLimit(newKeyEntries: readonly number[], liveAfter: number, max: number) {
  if (newKeyEntries.length === 0 || liveAfter <= max) return undefined;
  const liveBefore = liveAfter - newKeyEntries.length;
  return newKeyEntries[Math.max(0, max - liveBefore)];
}
