def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    m = beta * np.asarray(m, float) + learning_rate * np.asarray(grad, float)
    return np.asarray(theta, float) - m, m


def nesterov_step(theta, grad_fn, m, learning_rate, beta=0.9):
    theta, m = np.asarray(theta, float), np.asarray(m, float)
    m = beta * m + learning_rate * np.asarray(grad_fn(theta - beta * m), float)
    return theta - m, m


def adagrad_step(theta, grad, s, learning_rate, epsilon=1e-10):
    g = np.asarray(grad, float)
    s = np.asarray(s, float) + g**2
    return np.asarray(theta, float) - learning_rate * g / np.sqrt(s + epsilon), s


def rmsprop_step(theta, grad, s, learning_rate, beta=0.9, epsilon=1e-10):
    g = np.asarray(grad, float)
    s = beta * np.asarray(s, float) + (1 - beta) * g**2
    return np.asarray(theta, float) - learning_rate * g / np.sqrt(s + epsilon), s


def adam_step(theta, grad, m, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-10):
    if t < 1:
        raise ValueError("t must be >= 1")
    g = np.asarray(grad, float)
    m = beta1 * np.asarray(m, float) + (1 - beta1) * g
    s = beta2 * np.asarray(s, float) + (1 - beta2) * g**2
    step = learning_rate * (m / (1 - beta1**t)) / np.sqrt(s / (1 - beta2**t) + epsilon)
    return np.asarray(theta, float) - step, m, s
