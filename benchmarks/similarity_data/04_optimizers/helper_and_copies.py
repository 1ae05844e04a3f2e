def _as_float_array(x):
    """A new float64 array: the caller's object is never modified."""
    return np.array(x, dtype=np.float64, copy=True)


def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    velocity = _as_float_array(m)
    velocity *= beta
    velocity += learning_rate * _as_float_array(grad)
    params = _as_float_array(theta)
    params -= velocity
    return params, velocity


def nesterov_step(theta, grad_fn, m, learning_rate, beta=0.9):
    params = _as_float_array(theta)
    velocity = _as_float_array(m)
    ahead = params - beta * velocity
    g = _as_float_array(grad_fn(ahead))
    velocity = beta * velocity + learning_rate * g
    params -= velocity
    return params, velocity


def adagrad_step(theta, grad, s, learning_rate, epsilon=1e-10):
    params, g, acc = _as_float_array(theta), _as_float_array(grad), _as_float_array(s)
    acc += np.square(g)
    params -= learning_rate * g / np.sqrt(acc + epsilon)
    return params, acc


def rmsprop_step(theta, grad, s, learning_rate, beta=0.9, epsilon=1e-10):
    params, g, acc = _as_float_array(theta), _as_float_array(grad), _as_float_array(s)
    acc = beta * acc + (1.0 - beta) * np.square(g)
    params -= learning_rate * g / np.sqrt(acc + epsilon)
    return params, acc


def adam_step(theta, grad, m, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-10):
    if t < 1:
        raise ValueError(f"step numbers start at 1, not {t}")
    params, g = _as_float_array(theta), _as_float_array(grad)
    first = beta1 * _as_float_array(m) + (1.0 - beta1) * g
    second = beta2 * _as_float_array(s) + (1.0 - beta2) * np.square(g)
    first_hat = first / (1.0 - np.power(beta1, t))
    second_hat = second / (1.0 - np.power(beta2, t))
    params -= learning_rate * first_hat / np.sqrt(second_hat + epsilon)
    return params, first, second
