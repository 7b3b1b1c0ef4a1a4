// Checks the system commands that tests and the demo run, installing missing
// ones with apt-get when allowed. Usage: tsx dev/check-system.ts
import { ensureSystemPackages, testRequirements } from './system-packages.js';
import { errorMessage } from '../common/errors.js';

try {
  ensureSystemPackages(testRequirements, (line) => console.log(line));
} catch (error) {
  console.error(errorMessage(error));
  process.exit(1);
}
