/* topotta-lite report: draws the plotly views of a page. Each view is an empty div and an inert
   <script type="application/json"> block holding the figure, so that no page needs an inline
   script (the Content-Security-Policy allows only the site's own files). */
(function () {
  "use strict";
  function drawViews() {
    var blocks = document.querySelectorAll('script[type="application/json"].topotta-plotly-figure');
    if (!blocks.length || !window.Plotly) { return; }
    Array.prototype.forEach.call(blocks, function (block) {
      var target = document.getElementById(block.getAttribute("data-target"));
      if (!target) { return; }
      var figure = JSON.parse(block.textContent);
      window.Plotly.newPlot(target, {
        data: figure.data || [], layout: figure.layout || {}, frames: figure.frames || [],
        config: {responsive: true, displaylogo: false}
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawViews);
  } else {
    drawViews();
  }
}());
