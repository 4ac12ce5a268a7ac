import Foundation
import NN

/// The forms `SymmetrySpread` compares images with: a class's template in every orientation of
/// the symmetries read and at every turn of its own range, the template grown from the class's
/// exemplar, and each image's nearest form. Images are [N, C, H, W] values (blurred, background
/// 0), one plane of C·H·W per image.
struct SymmetryForms {
    let channels: Int, height: Int, width: Int
    /// The orientations compared (the group the families read generate; the identity alone to
    /// measure only how well a class has one form).
    let elements: [SymmetryElement]
    /// Times a template is made again from its images in their orientations.
    let rounds: Int
    /// The step of the turns a class's images are read with (`SymmetrySpread.classTurns`).
    let turnStep: Float

    var plane: Int { channels * height * width }

    /// Image `i` of `source`.
    func image(_ i: Int, _ source: [Float]) -> ArraySlice<Float> { source[(i * plane)..<((i + 1) * plane)] }

    /// The template's forms, element-major: an image's squared distance to a template in one
    /// orientation e and turn a is its distance to the template's form e⁻¹(turn(T, a)), so the
    /// forms are made once per template.
    func forms(_ template: [Float], turns: [Float]) -> [[Float]] {
        let turned = SymmetrySpread.turned(Array(repeating: template, count: turns.count).flatMap { $0 }, angles: turns,
                                           channels: channels, height: height, width: width)
        return elements.flatMap { e in
            turns.indices.map { k in e.inverse.apply(to: Array(turned[(k * plane)..<((k + 1) * plane)]), planes: channels, height: height, width: width) }
        }
    }

    /// Per element, the nearest of the turned `forms` (`forms`, `turns` of them per element) to
    /// image `i` of `source`: its squared distance and the turn's index.
    func nearest(_ i: Int, _ forms: [[Float]], turns: Int, in source: [Float]) -> (distances: [Float], turns: [Int]) {
        var distances = [Float](repeating: .infinity, count: elements.count), chosen = [Int](repeating: 0, count: elements.count)
        let plane = plane
        image(i, source).withUnsafeBufferPointer { x in
            for (f, form) in forms.enumerated() {
                let d = form.withUnsafeBufferPointer { t in
                    var sum: Float = 0
                    for q in 0..<plane { let v = x[q] - t[q]; sum += v * v }
                    return sum
                }
                if d < distances[f / turns] { (distances[f / turns], chosen[f / turns]) = (d, f % turns) }
            }
        }
        return (distances, chosen)
    }

    /// A class's template from its exemplar: its members' mean, each in its orientation and
    /// turned back (with `turns` more than [0]), a few times over; and the turns its images are
    /// read with.
    func grown(_ indices: [Int], from exemplar: Int, turns: [Float], in source: [Float]) -> (template: [Float], turns: [Float]) {
        var template = Array(image(exemplar, source)), own = turns
        for _ in 0..<rounds {
            let templateForms = forms(template, turns: own)
            var oriented: [Float] = [], turnsFound: [Float] = [], wholeTurns: [Float] = [], unmoved: [Float] = []
            for i in indices {
                let (distances, chosen) = nearest(i, templateForms, turns: own.count, in: source)
                let e = distances.indices.min { distances[$0] < distances[$1] }!
                oriented += elements[e].apply(to: Array(image(i, source)), planes: channels, height: height, width: width)
                turnsFound.append(own[chosen[e]])
                // e(x) ≈ turn(T, a) for a turn e (a quarter or half turn, or none): x ≈ turn(T, a − e's angle).
                if let angle = elements[e].turnAngle { wholeTurns.append(own[chosen[e]] - angle) }
                if elements[e] == .identity { unmoved.append(own[chosen[e]]) }
            }
            // Turned back, and the whole turned to the mean of the unmirrored members' whole
            // turns: the template stands in the middle of its class's turns, not at its
            // exemplar's (from a sprite at one end of ±45°, the other end is a quarter turn away,
            // and read as one). No middle when the turns have none (a resultant under ½): a
            // shape that looks the same turned half a turn is found at 0 or at a half turn by
            // its noise.
            let (sine, cosine) = (wholeTurns.reduce(0) { $0 + sin($1) }, wholeTurns.reduce(0) { $0 + cos($1) })
            let middle = own.count == 1 || (sine * sine + cosine * cosine).squareRoot() < 0.5 * Float(wholeTurns.count) ? 0 : atan2(sine, cosine)
            let back = SymmetrySpread.turned(oriented, angles: turnsFound.map { middle - $0 }, channels: channels, height: height, width: width)
            template = (0..<plane).map { q in stride(from: q, to: back.count, by: plane).reduce(Float(0)) { $0 + back[$1] } / Float(indices.count) }
            own = SymmetrySpread.classTurns(unmoved.map { $0 - middle }, within: turns, step: turnStep)
        }
        return (template, own)
    }

    /// A class's exemplar: of up to `candidates` of its images (drawn from `random` when it has
    /// more), the one the others come nearest, each in its best orientation (so that a class
    /// half of whose images are mirrored still has one form to be read against).
    func exemplar(of indices: [Int], in source: [Float], candidates count: Int, random: RandomGenerator) -> Int {
        var choosing = random
        let candidates = indices.count <= count ? indices : Array(choosing.permutation(indices.count).prefix(count).map { indices[$0] })
        let scores = candidates.map { j in
            let own = forms(Array(image(j, source)), turns: [0])
            return indices.reduce(Float(0)) { sum, i in sum + nearest(i, own, turns: 1, in: source).distances.min()! }
        }
        return candidates[scores.indices.min { scores[$0] < scores[$1] }!]
    }
}
