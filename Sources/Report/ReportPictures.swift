import Bundle
import Foundation
import Invariance
import NN

/// The report's strips: a few test inputs transformed across each generator's learned range,
/// as PNG data URIs, so a reader sees what the model treats as the same.
enum ReportPictures {
    /// Magnitudes shown for a width θ: five steps from −θ/2 to θ/2 (rotation at most the circle).
    static func steps(_ invariance: InvarianceReport.Invariance) -> [Float] {
        var half = invariance.theta / 2
        if [AffineGenerator.rotation.rawValue, PhotometricFamily.hue.rawValue].contains(invariance.generator) { half = min(half, .pi) }
        return (0..<5).map { -half + half * Float($0) / 2 }
    }

    /// For each sample, the five transformed copies as data:image/png URIs; for a mirror (or the
    /// transpose), the sample as it is and with the mirror applied.
    static func strip(_ samples: [InvarianceReport.Sample], _ invariance: InvarianceReport.Invariance) -> [[String]] {
        if let family = SymmetryFamily(rawValue: invariance.generator) {
            return samples.map { sample in
                [SymmetryElement.identity, SymmetryElement(applying: [family])].map { element in
                    pngURI(element.apply(to: sample.values, planes: sample.shape[0], height: sample.shape[1], width: sample.shape[2]),
                           shape: sample.shape, range: sample.values)
                }
            }
        }
        if let family = PhotometricFamily(rawValue: invariance.generator) {
            return samples.map { sample in
                // On the sample's own range (its darkest value black, its brightest white).
                let low = sample.values.min() ?? 0, high = max(sample.values.max() ?? 1, low + 1e-6)
                let input = Tensor(shape: [1] + sample.shape, values: sample.values)
                return steps(invariance).map { epsilon in
                    let values = PhotometricFamily.kernelValues(family, epsilon: epsilon)
                    let adjusted = Tensor.photometricAdjust(input, factors: Tensor(shape: [1, values.count], values: values),
                                                            gain: 1 / (high - low), offset: -low / (high - low))
                    return pngURI(adjusted.values, shape: sample.shape, range: sample.values)
                }
            }
        }
        guard let generator = AffineGenerator(rawValue: invariance.generator) else { return [] }
        return samples.map { sample in
            let input = Tensor(shape: [1] + sample.shape, values: sample.values)
            return steps(invariance).map { epsilon in pngURI(transform(input, by: generator, epsilon: epsilon).values, shape: sample.shape, range: sample.values) }
        }
    }

    /// An image's PNG as a data URI; values are scaled so `range`'s min and max are black and white.
    static func pngURI(_ values: [Float], shape: [Int], range: [Float]) -> String {
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let low = range.min() ?? 0, high = range.max() ?? 1
        let scale = high > low ? 255 / (high - low) : 0
        let channels = c == 3 ? 3 : 1
        var pixels = [UInt8](repeating: 0, count: h * w * channels)
        for y in 0..<h {
            for x in 0..<w {
                for k in 0..<channels {
                    // Outside the image the warp gives 0 in standardised units; show it as the background.
                    let v = (values[(k * h + y) * w + x] - low) * scale
                    pixels[(y * w + x) * channels + k] = UInt8(max(0, min(255, v.rounded())))
                }
            }
        }
        return "data:image/png;base64," + PNG.encode(width: w, height: h, channels: channels, pixels: pixels).base64EncodedString()
    }
}
