/**
 * Secondary indexes and queries.
 *
 * @module
 */

export { DocumentIndex, type IndexDefinition } from "./document_index.ts";
export { type CreateIndexOptions, IndexManager, MAX_INDEX_NAME_LENGTH } from "./manager.ts";
export {
  and,
  type Condition,
  type Filter,
  type FilterInput,
  matches,
  type Operator,
  or,
  Query,
  queryCandidates,
  type QueryPage,
  type QueryPlan,
  type QuerySource,
} from "./query.ts";
export type { FindByOptions, RangeByOptions, RangePage } from "./lookup.ts";
