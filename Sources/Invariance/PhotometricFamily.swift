import Foundation

/// The photometric families a learned distribution can hold beside the affine generators: each
/// a width θ with the affine generators' parameterisation (θ = softplus(w), ε = (u − ½)·θ per
/// example), applied as the factor e^ε of torchvision's adjustment of that name
/// (`Kernels/PhotometricAdjust.swift`), so θ spans the factors ×e^(−θ/2)…×e^(θ/2).
public enum PhotometricFamily: String, CaseIterable, Codable, Sendable {
    /// The pixel values multiplied by the factor (a factor of 1.1: 10% brighter).
    case brightness
    /// The values' distance from the image's gray mean multiplied by the factor.
    case contrast
    /// The values (on [0, 1]) raised to the power of the factor.
    case gamma

    /// Position in the parameter vector and in the kernel's factors.
    public var index: Int { PhotometricFamily.allCases.firstIndex(of: self)! }

    /// The factors a full width θ spans: e^(−θ/2) and e^(θ/2).
    public static func factorRange(theta: Double) -> (low: Double, high: Double) {
        (Foundation.exp(-theta / 2), Foundation.exp(theta / 2))
    }

    /// The learned interval in the units a person reads: brightness as the percent change of the
    /// pixel values ("percent": −9.5…+10.5 for θ = 0.2), contrast and gamma as their factors
    /// ("factor": 0.90…1.11).
    public func naturalInterval(theta: Float) -> ([Double], String) {
        let (low, high) = Self.factorRange(theta: Double(theta))
        switch self {
        case .brightness: return ([(low - 1) * 100, (high - 1) * 100], "percent")
        case .contrast, .gamma: return ([low, high], "factor")
        }
    }
}
