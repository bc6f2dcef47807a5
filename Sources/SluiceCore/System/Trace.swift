#if canImport(Glibc)
  import Glibc
#endif

/// Phase timings for profiling a command: with `SLUICE_TRACE=1` in the
/// environment, each `Trace.mark` prints the milliseconds since the process
/// started its `main` to stderr. Off, a mark costs one load of a flag.
public enum Trace {
  public static let enabled: Bool = getenv("SLUICE_TRACE") != nil
  static let start: Double = monotonic()

  static func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  /// Starts the clock (call first thing in main).
  public static func begin() { if enabled { _ = start } }

  public static func mark(_ what: @autoclosure () -> String) {
    guard enabled else { return }
    let ms = (monotonic() - start) * 1000
    // And the CPU time of the calling thread: where the two part, the thread waited
    // (for the disk, a child, or a core: a login node's few are shared with sbatch).
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    let cpu = (Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6)
    func f(_ v: Double) -> String { String(Int(v * 10) / 10) + "." + String(Int(v * 10) % 10) }
    let line = "[trace] " + f(ms) + " ms (thread cpu " + f(cpu) + ") " + what() + "\n"
    var bytes = Array(line.utf8)
    _ = write(2, &bytes, bytes.count)
  }

  /// CPU used so far (user + system) by this process (all threads) and by its
  /// waited-for children.
  public static func cpu() {
    guard enabled else { return }
    func ms(_ t: timeval) -> String {
      let v = Double(t.tv_sec) * 1000 + Double(t.tv_usec) / 1000
      return String(Int(v * 10) / 10) + "." + String(Int(v * 10) % 10)
    }
    func usage(_ who: Int32) -> String {
      var u = rusage()
      getrusage(__rusage_who_t(who), &u)
      return ms(u.ru_utime) + " + " + ms(u.ru_stime) + " ms, " + String(u.ru_minflt) + " faults"
    }
    mark("cpu: sluice " + usage(RUSAGE_SELF.rawValue) + "; children " + usage(RUSAGE_CHILDREN.rawValue))
  }
}
