import { writeFileSync } from "node:fs";
import { printedSchema } from "../src/graphql/schema.js";

// Prints the SDL that clients and the snapshot test pin: `npm run schema:print`.
writeFileSync(new URL("../schema.graphql", import.meta.url), printedSchema());
console.log("wrote schema.graphql");
