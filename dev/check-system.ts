// Checks the system commands that tests and the demo run, installing missing
// ones with apt-get when allowed. Usage: tsx dev/check-system.ts
import { ensureSystemPackages, testRequirements } from './system-packages.js';

try {
  ensureSystemPackages(testRequirements, (line) => console.log(line));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
