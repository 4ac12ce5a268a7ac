import Foundation

/// The photometric families a learned distribution can hold beside the affine generators: each
/// a width θ with the affine generators' parameterisation (θ = softplus(w), ε = (u − ½)·θ per
/// example), applied as torchvision's adjustment of that name (`Kernels/PhotometricAdjust.swift`):
/// with the factor e^ε, so θ spans the factors ×e^(−θ/2)…×e^(θ/2), or for hue as a turn of ε
/// radians around the colour wheel, so θ = 2π is the whole circle.
public enum PhotometricFamily: String, CaseIterable, Codable, Sendable {
    /// The pixel values multiplied by the factor (a factor of 1.1: 10% brighter).
    case brightness
    /// The values' distance from the image's gray mean multiplied by the factor.
    case contrast
    /// The values (on [0, 1]) raised to the power of the factor.
    case gamma
    /// Each pixel's distance from its own gray multiplied by the factor (0: gray, 1: as it was).
    /// Three-channel (red, green, blue) images only.
    case saturation
    /// Each pixel's hue turned by ε radians, its saturation and value kept (torchvision's
    /// adjust_hue with hue_factor ε/2π). Three-channel (red, green, blue) images only.
    case hue

    /// Position in the parameter vector and in the kernel's factors.
    public var index: Int { PhotometricFamily.allCases.firstIndex(of: self)! }

    /// Whether the family acts on images of `channels` channels: saturation and hue need red,
    /// green and blue.
    public func applies(channels: Int) -> Bool {
        switch self {
        case .brightness, .contrast, .gamma: return true
        case .saturation, .hue: return channels == 3
        }
    }

    /// Why the family is left out for images of `channels` channels (nil when it applies).
    public func leftOutBecause(channels: Int) -> String? {
        applies(channels: channels) ? nil
            : "\(rawValue) needs red, green and blue; these images have \(channels) channel\(channels == 1 ? "" : "s")"
    }

    /// The kernel's value for a draw ε: the factor e^ε, or for hue the turn ε itself.
    public func kernelValue(epsilon: Float) -> Float { self == .hue ? epsilon : Foundation.exp(epsilon) }

    /// The kernel's values for every family at its identity (factor 1, turn 0).
    public static let identity: [Float] = allCases.map { $0.kernelValue(epsilon: 0) }

    /// The kernel's values with only `family` drawn at ε.
    public static func kernelValues(_ family: PhotometricFamily, epsilon: Float) -> [Float] {
        var values = identity
        values[family.index] = family.kernelValue(epsilon: epsilon)
        return values
    }

    /// The factors a full width θ spans: e^(−θ/2) and e^(θ/2).
    public static func factorRange(theta: Double) -> (low: Double, high: Double) {
        (Foundation.exp(-theta / 2), Foundation.exp(theta / 2))
    }

    /// The learned interval in the units a person reads: brightness as the percent change of the
    /// pixel values ("percent": −9.5…+10.5 for θ = 0.2), contrast, gamma and saturation as their
    /// factors ("factor": 0.90…1.11), hue in degrees ("degrees": ±θ/2, at most ±180).
    public func naturalInterval(theta: Float) -> ([Double], String) {
        let (low, high) = Self.factorRange(theta: Double(theta))
        switch self {
        case .brightness: return ([(low - 1) * 100, (high - 1) * 100], "percent")
        case .contrast, .gamma, .saturation: return ([low, high], "factor")
        case .hue:
            let half = min(Double(theta) / 2, .pi) * 180 / .pi
            return ([-half, half], "degrees")
        }
    }
}
