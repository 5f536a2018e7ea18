import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

// Backup and restore in the real UI: export the selected script from the list,
// then import a bundle (prepared by iota_scripts/tests/test_bundle.py as the
// attachment "iota_bundle_tour.zip"), see the preview and import it.
async function uploadTourBundle(input) {
    const [attachment] = await rpc("/web/dataset/call_kw/ir.attachment/search_read", {
        model: "ir.attachment",
        method: "search_read",
        args: [[["name", "=", "iota_bundle_tour.zip"]], ["datas"]],
        kwargs: {},
    });
    const blob = await (await fetch(`data:application/zip;base64,${attachment.datas}`)).blob();
    const transfer = new DataTransfer();
    transfer.items.add(new File([blob], "iota_bundle_tour.zip", { type: "application/zip" }));
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
}

registry.category("web_tour.tours").add("iota_scripts_bundle_tour", {
    steps: () => [
        {
            content: "Select the script to export",
            trigger: ".o_list_view .o_data_row:contains('Bundle tour other') .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Open the Actions menu",
            trigger: ".o_control_panel .o_cp_action_menus button:contains('Actions')",
            run: "click",
        },
        {
            trigger: ".o-dropdown--menu .o-dropdown-item:contains('Export to a bundle')",
            run: "click",
        },
        {
            content: "The dialog names the selected script",
            trigger: ".modal .o_field_widget[name=script_ids]:contains('Bundle tour other')",
        },
        {
            trigger: ".modal button[name=action_export]",
            run: "click",
        },
        {
            content: "The bundle is offered for download",
            trigger: ".modal .o_field_widget[name=bundle_file]:contains('.zip')",
        },
        {
            trigger: ".modal .modal-footer button:contains('Close')",
            run: "click",
        },
        {
            content: "Open Configuration",
            trigger: ".o_main_navbar button:contains('Configuration')",
            run: "click",
        },
        {
            trigger: ".o-dropdown--menu .o-dropdown-item:contains('Import Scripts')",
            run: "click",
        },
        {
            content: "Upload the bundle",
            trigger: ".modal .o_field_widget[name=bundle_file] input[type=file]:not(:visible)",
            async run() {
                await uploadTourBundle(
                    document.querySelector(".modal .o_field_widget[name=bundle_file] input[type=file]")
                );
            },
        },
        {
            content: "The file is uploaded (it can be cleared)",
            trigger: ".modal .o_field_widget[name=bundle_file] .o_clear_file_button",
        },
        {
            trigger: ".modal button[name=action_preview]",
            run: "click",
        },
        {
            content: "The preview: the deleted script is new",
            trigger:
                ".modal .o_field_widget[name=line_ids] .o_data_row:contains('bundle_tour_restored'):contains('New')",
        },
        {
            trigger: ".modal button[name=action_import]",
            run: "click",
        },
        {
            content: "Imported",
            trigger: ".modal .alert-success:contains('The bundle was imported')",
        },
    ],
});
