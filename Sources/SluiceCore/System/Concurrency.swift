import Dispatch
import FoundationEssentials
import Glibc

/// Work started on its own thread; `wait` gives its result.
///
/// A plain detached pthread, not a Foundation `Thread`: one of those costs ~0.3 ms
/// to start here (its dictionary, its name, its run loop's set-up), and a tick
/// starts several (the early sbatch, the queries, the render, the writers).
public final class Background<T>: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  private var result: Result<T, Error>?

  public init(_ work: @escaping @Sendable () throws -> T) {
    let job = BackgroundJob { [self] in
      result = Result { try work() }
      done.signal()
    }
    let box = Unmanaged.passRetained(job).toOpaque()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    defer { pthread_attr_destroy(&attr) }
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    if pthread_create(&thread, &attr, runBackgroundJob, box) != 0 {  // no thread to be had: work here
      Unmanaged<BackgroundJob>.fromOpaque(box).takeRetainedValue().run()
    }
  }

  public func wait() throws -> T {
    done.wait()
    done.signal()
    return try result!.get()
  }
}

private final class BackgroundJob {
  let run: () -> Void
  init(_ run: @escaping () -> Void) { self.run = run }
}

/// A `Background` thread's start routine: runs the job it was given, once.
private func runBackgroundJob(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
  Unmanaged<BackgroundJob>.fromOpaque(raw!).takeRetainedValue().run()
  return nil
}

/// A value handed from one thread to another, once: `take` waits for `give`.
public final class Handoff<T>: @unchecked Sendable {
  private let given = DispatchSemaphore(value: 0)
  private var value: T?

  public init() {}

  public func give(_ v: T) {
    value = v
    given.signal()
  }

  public func take() -> T {
    given.wait()
    return value!
  }
}
