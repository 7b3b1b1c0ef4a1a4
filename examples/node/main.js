// Prints summary statistics of a list of numbers.
// Input: optional JSON on stdin, {"numbers": [3, 1, 4, 1, 5]}.
// The file uses neither require nor import, so it runs as a CommonJS script and as an ES module.

const defaultNumbers = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];

async function readInput() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks).toString('utf8').trim();
  if (raw === '') {
    return {};
  }
  const payload = JSON.parse(raw);
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new Error('expected a JSON object like {"numbers": [1, 2, 3]}');
  }
  return payload;
}

function summarize(numbers) {
  const sorted = [...numbers].sort((a, b) => a - b);
  const count = sorted.length;
  const mean = sorted.reduce((sum, value) => sum + value, 0) / count;
  const middle = Math.floor(count / 2);
  const median = count % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  const variance = sorted.reduce((sum, value) => sum + (value - mean) ** 2, 0) / count;
  return { count, min: sorted[0], max: sorted[count - 1], mean, median, standardDeviation: Math.sqrt(variance) };
}

async function main() {
  const started = process.hrtime.bigint();
  let payload;
  try {
    payload = await readInput();
  } catch (error) {
    console.error(`invalid input: ${error.message}`);
    process.exitCode = 2;
    return;
  }

  const numbers = payload.numbers ?? defaultNumbers;
  const valid = Array.isArray(numbers) && numbers.length > 0 && numbers.every((value) => Number.isFinite(value));
  if (!valid) {
    console.error('invalid input: "numbers" must be a non-empty array of finite numbers');
    process.exitCode = 2;
    return;
  }

  const stats = summarize(numbers);
  const round = (value) => Number(value.toFixed(3));
  console.log(`count ${stats.count}, min ${stats.min}, max ${stats.max}`);
  console.log(`mean ${round(stats.mean)}, median ${round(stats.median)}, standard deviation ${round(stats.standardDeviation)}`);

  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  console.error(`summarized ${stats.count} numbers in ${elapsedMs.toFixed(2)} ms`);
}

main();
