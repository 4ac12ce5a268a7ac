import Bundle
import Foundation
import Invariance
import NN

/// Whose fault a failed job is, which decides what happens next.
public enum JobFault: String, Codable, Sendable, Equatable {
    /// The bundle is invalid: fail at once, with error.json.
    case bundle
    /// Training failed (a diverging loss): retry up to max_attempts.
    case training
    /// The job's process crashed, hit a resource limit or hung: retry up to max_attempts, so
    /// a bundle that does it every time fails for good and never crash-loops the daemon.
    case process
    /// The machine (storage, database): retry without limit; not the bundle's fault.
    case machine

    /// Whether the failure counts against max_attempts.
    var countsAttempt: Bool { self == .training || self == .process }

    /// The fault an error thrown by the bundle readers, the trainer or the file system is.
    static func of(_ error: Error) -> JobFault {
        switch error {
        case let error as BundleError:
            if case .storage = error { return .machine }
            return .bundle
        case is InvarianceError: return .training
        case let error as NNError:
            if case .io = error { return .machine }
            return .training
        case is PipelineError: return .machine  // the queue's errors arrive as PipelineError.queue
        case is CocoaError, is POSIXError: return .machine
        default: return .training  // unknown, from below: counts an attempt, so it cannot loop for ever
        }
    }
}
