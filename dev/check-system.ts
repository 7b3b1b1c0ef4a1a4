// Checks the system commands that the tests run, installing missing
// ones with apt-get when allowed. Usage: tsx dev/check-system.ts
import { requireSystemPackages, testRequirements } from './system-packages.js';

requireSystemPackages(testRequirements, (line) => console.log(line));
