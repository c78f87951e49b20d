/**
 * The known name a misspelt one was probably meant to be, for "did you mean"
 * hints: the closest by Damerau–Levenshtein distance (optimal string
 * alignment: insert, delete, substitute, swap two neighbours), compared
 * case-insensitively, and only when close enough to be a typo rather than
 * another word.
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  const wanted = name.toLowerCase();
  // One edit per six characters, at least one and at most two: WEBHOOK_URLL (12) allows 2, while
  // DESTINATION_SIEM_URL is three edits from DESTINATION_SOAR_URL, another destination rather than a typo.
  const limit = Math.min(2, Math.max(1, Math.floor(wanted.length / 6)));
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(wanted, candidate.toLowerCase());
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

/** Optimal string alignment distance between `a` and `b`. */
function editDistance(a: string, b: string): number {
  // Rows i-2, i-1 and i of the dynamic-programming table.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, before[j - 2]! + 1);
      current.push(distance);
    }
    [before, previous] = [previous, current];
  }
  return previous[b.length]!;
}
