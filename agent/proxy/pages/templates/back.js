document.getElementById("back")?.addEventListener("click", () => {
  if (history.length > 1) {
    history.back();
  } else {
    window.close();
  }
  setTimeout(() => location.replace("/away"), 700);
});
