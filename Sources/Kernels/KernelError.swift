/// Errors a caller of the kernels can cause. Kernels themselves check shapes with
/// preconditions (a wrong shape there is a programming error); these are the inputs that come
/// from users: settings and environment.
public enum KernelError: Error, Equatable, CustomStringConvertible {
    /// A thread count from `source` (an environment variable or an option) is not usable.
    case invalidThreadCount(source: String, value: String, cores: Int)
    /// A GEMM micro-kernel was asked for by name that this CPU or build does not have.
    case unknownMicroKernel(source: String, value: String, available: [String])

    public var description: String {
        switch self {
        case let .invalidThreadCount(source, value, cores):
            return "\(source) is \"\(value)\": a thread count must be a whole number from 0 (all cores) to 1024; "
                + "set it to 1...\(cores) for this machine, or unset it to use all \(cores) cores"
        case let .unknownMicroKernel(source, value, available):
            return "\(source) is \"\(value)\": no such GEMM micro-kernel on this CPU; "
                + "use one of \(available.joined(separator: ", ")), or unset it to choose automatically"
        }
    }
}
