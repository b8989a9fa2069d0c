"""The bilingual glossary (English / 中文) of every technical term in the course.

One source: chapter 00 renders it, ``GLOSSARY.md`` is generated from it
(``python -m course_utils.glossary > GLOSSARY.md``), and a test keeps the two in step.
"""

from __future__ import annotations

# (English term, Chinese term, chapter where it is introduced)
TERMS: list[tuple[str, str, str]] = [
    ("text classification", "文本分类", "01"),
    ("bag of words", "词袋模型", "01"),
    ("term frequency (TF)", "词频", "01"),
    ("inverse document frequency (IDF)", "逆文档频率", "01"),
    ("TF-IDF", "词频-逆文档频率", "01"),
    ("word order", "词序", "01"),
    ("feature", "特征", "01"),
    ("logistic regression", "逻辑回归", "01"),
    ("vocabulary", "词表 / 词汇表", "01"),
    ("document frequency (DF)", "文档频率", "01"),
    ("n-gram", "N 元语法 / n 元组", "01"),
    ("cosine similarity", "余弦相似度", "01"),
    ("overfitting", "过拟合", "01"),
    ("validation set", "验证集", "01"),
    ("mask, masked score", "掩码", "00"),
    ("logit", "logit（未归一化的得分）", "00"),
    ("temperature (of a softmax)", "温度（softmax 的温度参数）", "00"),
    ("weighted input (net input)", "加权输入", "00"),
    ("Naive Bayes", "朴素贝叶斯", "01"),
    ("support vector machine (SVM)", "支持向量机", "01"),
    ("regularisation", "正则化", "01"),
    ("standard error", "标准误差", "01"),
    ("McNemar's test (paired)", "McNemar 检验（配对检验）", "01"),
    ("paired standard error", "配对标准误差", "01"),
    ("95 % interval (confidence interval)", "置信区间", "01"),
    ("stratified split", "分层划分", "01"),
    ("log-count ratio (Naive Bayes)", "对数计数比（朴素贝叶斯）", "01"),
    ("NB-LR / NBSVM (Naive-Bayes-weighted logistic regression / SVM)",
     "NB-LR / NBSVM（朴素贝叶斯加权的逻辑回归 / 支持向量机）", "01"),
    ("validation plateau", "验证平台（验证集上无法区分的参数范围）", "01"),
    ("edge clue (order task)", "边缘线索（顺序任务）", "01"),
    ("early stopping", "早停", "02"),
    ("Adam (optimiser)", "Adam 优化器", "02"),
    ("epoch", "轮次 (epoch)", "02"),
    ("one-hot vector", "独热向量 / 独热编码", "00"),
    ("filter, kernel (of a convolution)", "滤波器 / 卷积核", "02"),
    ("feature map", "特征图", "02"),
    ("stride", "步长 / 步幅", "02"),
    ("padding", "填充", "02"),
    ("cross-correlation", "互相关", "02"),
    ("dropout", "随机失活 (dropout)", "02"),
    ("dilation, dilated convolution", "膨胀 / 膨胀卷积（空洞卷积）", "02"),
    ("feedforward neural network", "前馈神经网络", "02"),
    ("fixed-length vector", "定长向量", "02"),
    ("word embedding", "词嵌入 / 词向量", "02"),
    ("convolutional neural network (CNN)", "卷积神经网络", "02"),
    ("sliding window", "滑动窗口", "02"),
    ("pooling", "池化", "02"),
    ("max-over-time pooling", "时间维最大池化", "02"),
    ("receptive field", "感受野", "02"),
    ("local feature", "局部特征", "02"),
    ("long-range dependency", "长距离依赖", "02"),
    ("recurrent neural network (RNN)", "循环神经网络", "03"),
    ("variable-length sequence", "变长序列", "03"),
    ("input layer", "输入层", "03"),
    ("hidden layer", "隐藏层 / 隐含层", "03"),
    ("hidden state, state variable", "隐状态 / 状态变量", "03"),
    ("output layer", "输出层", "03"),
    ("weight matrix", "权重矩阵", "03"),
    ("activation function", "激活函数", "03"),
    ("hyperbolic tangent (tanh)", "双曲正切函数", "00"),
    ("rectified linear unit (ReLU)", "线性整流函数", "00"),
    ("softmax", "Softmax 函数 / 归一化指数函数", "00"),
    ("numerical stability", "数值稳定性", "00"),
    ("overflow, underflow (floating point)", "上溢 / 下溢", "00"),
    ("loss function", "损失函数", "01"),
    ("cross-entropy", "交叉熵", "01"),
    ("unrolling in time", "按时间展开", "03"),
    ("backpropagation (BP)", "反向传播", "04"),
    ("backpropagation through time (BPTT)", "随时间反向传播", "04"),
    ("forward pass", "前向计算", "04"),
    ("error term (delta)", "误差项", "04"),
    ("chain rule", "链式法则", "04"),
    ("gradient", "梯度", "04"),
    ("gradient check, finite differences", "梯度检验 / 有限差分", "04"),
    ("stochastic gradient descent (SGD)", "随机梯度下降", "04"),
    ("truncated BPTT", "截断的随时间反向传播", "04"),
    ("Jacobian matrix", "雅可比矩阵", "05"),
    ("eigenvalue", "特征值", "05"),
    ("spectral radius", "谱半径", "05"),
    ("singular value", "奇异值", "05"),
    ("vanishing gradient", "梯度消失", "05"),
    ("exploding gradient", "梯度爆炸", "05"),
    ("saturation (of a nonlinearity)", "饱和", "05"),
    ("norm (of a vector)", "范数", "05"),
    ("gradient clipping", "梯度裁剪", "05"),
    ("residual network (ResNet)", "残差网络", "05"),
    ("residual learning, skip connection", "残差学习 / 跳跃连接", "05"),
    ("long short-term memory (LSTM)", "长短期记忆网络 / 长短时记忆模型", "06"),
    ("gating mechanism", "门控机制", "06"),
    ("gate", "门", "06"),
    ("input gate", "输入门", "06"),
    ("forget gate", "遗忘门", "06"),
    ("output gate", "输出门", "06"),
    ("memory cell", "记忆单元", "06"),
    ("sigmoid function", "Sigmoid 函数", "01"),
    ("long-term memory", "长期记忆", "06"),
    ("adding problem", "加法问题", "06"),
    ("gated recurrent unit (GRU)", "门控循环单元", "07"),
    ("update gate", "更新门", "07"),
    ("reset gate", "重置门", "07"),
    ("candidate state", "候选状态 / 备选答案", "07"),
    ("exposure (of the memory)", "暴露程度（输出门的作用）", "07"),
    ("parameter count", "参数量", "08"),
]


def markdown_table() -> str:
    """The glossary as a Markdown table, sorted by chapter, then by English term."""
    rows = sorted(TERMS, key=lambda t: (t[2], t[0].lower()))
    lines = ["| English | 中文 | chapter |", "|---|---|---|"]
    lines += [f"| {en} | {zh} | {ch} |" for en, zh, ch in rows]
    return "\n".join(lines)


def glossary_markdown() -> str:
    """The whole ``GLOSSARY.md`` file."""
    return ("# Glossary / 术语表\n\n"
            "Every technical term of the course, in English and Chinese, with the chapter that "
            "introduces it. Generated from `course_utils/glossary.py`; do not edit by hand.\n\n"
            + markdown_table() + "\n")


if __name__ == "__main__":
    print(glossary_markdown(), end="")
