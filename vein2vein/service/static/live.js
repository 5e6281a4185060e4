// The console's live update: vein2vein/service/board_templates.py marks the regions.
(function(){
  var main=document.getElementById('main'); if(!main||!main.dataset.refresh) return;
  var seen={}, polls=0;
  // A form someone has typed in stays as they left it until they submit it.
  document.addEventListener('input',function(e){
    if(e.target&&e.target.form) e.target.form.dataset.dirty='1';
  },true);
  function busy(region){
    var a=document.activeElement;
    if(a&&region.contains(a)&&/^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(a.tagName)) return true;
    return region.querySelector('form[data-dirty]')!==null;
  }
  function swap(name, old, next){
    var text=next.innerHTML;
    if(seen[name]===text||busy(old)) return;
    var open=[];
    old.querySelectorAll('details[open][id]').forEach(function(d){open.push(d.id);});
    old.innerHTML=text; seen[name]=text;
    open.forEach(function(id){var d=document.getElementById(id); if(d) d.open=true;});
  }
  function apply(html){
    var fresh=document.createElement('template'); fresh.innerHTML=html;
    var regions=fresh.content.querySelectorAll('[data-live]');
    // A page that marks no region is one region, still never replaced under the reader.
    if(!regions.length&&!main.querySelector('[data-live]')) swap('', main, fresh);
    regions.forEach(function(next){
      var old=main.querySelector('[data-live="'+CSS.escape(next.dataset.live)+'"]');
      if(old) swap(next.dataset.live, old, next);
    });
    main.dataset.polls=String(++polls);
  }
  seen['']=main.innerHTML;
  main.querySelectorAll('[data-live]').forEach(function(r){seen[r.dataset.live]=r.innerHTML;});
  setInterval(function(){
    if(document.hidden) return;
    fetch(location.href,{headers:{'X-Partial':'1'},credentials:'same-origin'})
      .then(function(r){return r.ok&&!r.redirected?r.text():null;})
      .then(function(html){if(html!==null) apply(html);})
      .catch(function(){});
  }, Number(main.dataset.refresh)*1000);
})();
