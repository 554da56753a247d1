/* topotta-lite report: MathJax 2 set up for an offline site under a strict
   Content-Security-Policy (no inline configuration block). Loaded after the combined
   TeX-AMS-MML_HTMLorMML-full configuration: TeX in, HTML-CSS out with the STIX-Web fonts
   shipped beside it, and the Safe extension (no javascript: links or styles from TeX). */
MathJax.Hub.Config({
  extensions: ["Safe.js"],
  tex2jax: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               linebreaks: {automatic: true},
               /* MathJax's blank test font points at about:, which the policy refuses */
               styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}},
  menuSettings: {renderer: "HTML-CSS", assistiveMML: false},
  showMathMenu: false,
  messageStyle: "none"
});
MathJax.Hub.Queue(function () { document.documentElement.setAttribute("data-math", "done"); });
MathJax.Ajax.loadComplete("[MathJax]/config/local/topotta.js");
