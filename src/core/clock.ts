/**
 * Time as an interface. Pure parts take `now` (milliseconds) as an argument; the runtime
 * reads it from a Clock, which the simulator replaces with a virtual one.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch, as the wall clock says (expiry times use it). */
  now(): number;
}
