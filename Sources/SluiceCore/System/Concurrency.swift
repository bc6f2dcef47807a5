import Foundation

/// Runs an action the first time `run` is called, from any thread; later calls
/// wait for that first run to finish.
public final class Once: @unchecked Sendable {
  private let lock = NSLock()
  private var action: (() -> Void)?

  public init(_ action: @escaping () -> Void) { self.action = action }

  @Sendable public func run() {
    lock.lock()
    defer { lock.unlock() }
    if let a = action {
      action = nil
      a()
    }
  }
}

/// Work started on its own thread; `wait` gives its result.
public final class Background<T>: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  private var result: Result<T, Error>?

  /// `yielding`: the thread runs at the lowest priority (nice 19), so that on a
  /// small machine it takes only the CPU that Slurm's commands, running at that
  /// moment, leave free: their answer is what a tick waits for.
  public init(yielding: Bool = false, _ work: @escaping @Sendable () throws -> T) {
    Thread { [self] in
      #if os(Linux)
        // On Linux the nice value is per thread: who 0 is this thread only.
        if yielding { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19) }
      #endif
      result = Result { try work() }
      done.signal()
    }.start()
  }

  public func wait() throws -> T {
    done.wait()
    done.signal()
    return try result!.get()
  }
}
