// The widget manager typesets what a widget shows with MathJax 2's call,
// MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book serves MathJax 3.
// This maps that one call onto MathJax 3, after MathJax's own first typesetting.
(function () {
  var mj = window.MathJax;
  if (!mj || mj.Hub || !mj.startup) return;
  mj.Hub = {
    Queue: function () {
      for (var i = 0; i < arguments.length; i++) {
        var job = arguments[i];
        if (Array.isArray(job) && job[0] === "Typeset") {
          var nodes = job[2] ? [job[2]] : undefined;
          mj.startup.promise = mj.startup.promise.then(function () {
            return mj.typesetPromise(nodes);
          });
        }
      }
    },
  };
})();
