import torch

from relulab.theory.matrix_form import expectations
from relulab.theory.recursive import gradient_rule, random_net, weight_gradients

DT = torch.float64


def _nets(generator, slope=0.0):
    teacher = random_net((5, 6, 7), 8, 4, 2, generator=generator, leaky_slope=slope)
    student = random_net((10, 12, 14), 8, 4, 2, generator=generator, leaky_slope=slope)
    return teacher, student


def test_true_gradient_matches_rule_and_output_layer_is_exact(generator):
    teacher, student = _nets(generator)
    x = torch.randn(2, 500, 8, generator=generator, dtype=DT)
    terms = expectations(teacher, student, x)
    weights, biases = weight_gradients(gradient_rule(teacher, student, x))
    for t, w, b in zip(terms, weights, biases, strict=True):
        torch.testing.assert_close(t.true_grad[..., :-1], w, rtol=0, atol=1e-12)
        torch.testing.assert_close(t.true_grad[..., -1], b, rtol=0, atol=1e-12)
    # f' = 1 and β = I at the linear output: the matrix form has nothing to decouple there
    assert terms[-1].relative_error.max() < 1e-12
    # below it is an approximation (E[ff f'f'β] != E[ff]E[f'f']E[β]): visibly nonzero
    assert all(float(t.relative_error.min()) > 1e-3 for t in terms[:-1])


def test_linear_network_makes_the_matrix_form_exact(generator):
    """Leaky slope 1 = linear: every gate is 1 and β is constant, so the decoupling is exact."""
    teacher, student = _nets(generator, slope=1.0)
    terms = expectations(teacher, student, torch.randn(2, 300, 8, generator=generator, dtype=DT))
    for t in terms:
        assert t.relative_error.max() < 1e-12


def test_chunked_expectations_equal_one_chunk(generator):
    teacher, student = _nets(generator)
    x = torch.randn(2, 257, 8, generator=generator, dtype=DT)
    whole = expectations(teacher, student, x)
    chunked = expectations(teacher, student, x, max_elements=2 * 15 * 15 * 10)  # 10 per chunk
    for a, b in zip(whole, chunked, strict=True):
        for name in ("L_star", "L", "D_star", "D", "beta_star", "beta", "true_grad", "predicted",
                     "predicted_orig"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=1e-12)


def test_shapes_and_h_is_d_times_beta(generator):
    teacher, student = _nets(generator)
    terms = expectations(teacher, student, torch.randn(2, 64, 8, generator=generator, dtype=DT))
    assert terms[0].L_star.shape == (2, 9, 9) and terms[0].D_star.shape == (2, 11, 6)
    assert terms[0].predicted.shape == (2, 10, 9) and terms[-1].predicted.shape == (2, 4, 15)
    torch.testing.assert_close(terms[1].H, terms[1].D * terms[1].beta)


def _bias_last(net, i):
    return torch.cat([net.weights[i], net.biases[i][..., None]], -1)  # (S, out, in+1)


def test_original_form_drops_the_constant_node(generator):
    """``predicted_orig`` = H*[:n, :m] W̃*[:m] L*ᵀ − H[:n, :n] W̃[:n] Lᵀ, written out here from the
    LayerTerms fields; the rows of W̃ without the constant node are just [W, b]."""
    teacher, student = _nets(generator)
    terms = expectations(teacher, student, torch.randn(2, 400, 8, generator=generator, dtype=DT))
    for i, t in enumerate(terms):
        n, m = student.weights[i].shape[1], teacher.weights[i].shape[1]
        hand = (t.H_star[:, :n, :m] @ _bias_last(teacher, i) @ t.L_star.mT
                - t.H[:, :n, :n] @ _bias_last(student, i) @ t.L.mT)
        torch.testing.assert_close(t.predicted_orig, hand, rtol=0, atol=1e-12)
    # the output layer has no constant node above: both forms are the same tensor
    torch.testing.assert_close(terms[-1].predicted_orig, terms[-1].predicted, rtol=0, atol=0)


def test_dropped_constant_node_changes_hidden_layers(generator):
    """Below the output the two forms differ by the constant node's path:
    predicted − predicted_orig = (H*[:n, m] − H[:n, n]) ⊗ E[f̃_{l−1}] (W̃ row of the constant node
    is e_last, and L*[:, last] = L[:, last] = E[f̃_{l−1}])."""
    teacher, student = _nets(generator)
    terms = expectations(teacher, student, torch.randn(2, 400, 8, generator=generator, dtype=DT))
    for i, t in enumerate(terms[:-1]):
        n, m = student.weights[i].shape[1], teacher.weights[i].shape[1]
        diff = t.predicted - t.predicted_orig
        assert float(diff.abs().amax((1, 2)).min()) > 1e-6
        path = (t.H_star[:, :n, m] - t.H[:, :n, n])[..., None] * t.L[:, None, :, -1]
        torch.testing.assert_close(diff, path, rtol=0, atol=1e-12)
        torch.testing.assert_close(t.L[..., -1], t.L_star[..., -1], rtol=0, atol=1e-12)
