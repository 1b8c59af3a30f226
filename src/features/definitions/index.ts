export { createDefinitionsRepository, type DefinitionsRepository } from "./definitions.repository.js";
export { createDefinitionsService, type Definition, type DefinitionsService } from "./definitions.service.js";
