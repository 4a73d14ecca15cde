/**
 * A number for an object, the same for as long as the object lives: compiled-graph cache keys name the model
 * or dictionary a graph was built from by it, without holding the object alive. One counter for every caller,
 * so two objects never share a number whatever their kind.
 */
const ids = new WeakMap<object, number>();
let next = 0;

export function objectId(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = next++));
  return id;
}
